"""The registry of augmentation policies, looked up by the names in `config.augment.policies`.

Each entry is a factory `factory(**options) -> per_example_fn`, where
`per_example_fn(key, image) -> image` augments ONE image of shape (H, W, C) (float pixel
values in [0, 255]) with its own PRNG key. Factories validate their options when called, so a
bad config fails when the augmentation is built, not inside the jitted train step.
"""
from common.registry import Registry

POLICIES = Registry("augmentation policy")
