"""Small shared utilities: the name registry used by models, augmentations, data sources and more."""
