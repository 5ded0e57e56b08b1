"""CIFAR-10 facts shared by data loading, augmentation and normalisation."""

# CIFAR-10's own label order: label i is CIFAR10_CLASSES[i].
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
NUM_CLASSES = len(CIFAR10_CLASSES)
IMAGE_SHAPE = (32, 32, 3)  # (height, width, RGB channels)

# Per-channel mean and standard deviation of the CIFAR-10 training set, in pixel units
# (0..255). "mean" fill colour in augmentations and protocols is CIFAR10_MEAN; it is the
# colour that normalisation maps to 0.
CIFAR10_MEAN = (125.307, 122.950, 113.865)
CIFAR10_STD = (62.993, 62.089, 66.705)
