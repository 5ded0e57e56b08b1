"""Small shared utilities at the bottom of the project (they import no other package of it): the
name registry used by models, augmentations, data sources and more, the FFT phase-ramp shift
(fourier.py), config-file loading, TensorBoard event files, entry-point set-up, and the
project's own error types (errors.py: UserError, printed as one line by the commands)."""
