"""CIFAR-10 classifiers, built by name: `build_model('resnet20', downsample='blurpool')`.

Registered models: afvit, alexnet, alexnet_nostride, resnet18, resnet20, resnet50, and the vision
transformers vit and cct (models/vit.py, models/cct.py) (see `MODELS`).
Downsampling strategies (option `downsample`): see `models.downsample.DOWNSAMPLERS`.
Feature-map nonlinearities (option `nonlinearity`): see `models.nonlinearity.NONLINEARITIES`.
The alias-free convnet (Michaeli et al. 2023): `build_model(name, **afc_options(name))`.
"""
from models.builder import (MODELS, afc_options, build_model, complete_saved_options,
                            count_params, model_options, uses_temperature)

# Importing the model modules registers them in MODELS.
from models import alexnet as _alexnet  # noqa: F401  pylint: disable=unused-import
from models import resnet as _resnet  # noqa: F401  pylint: disable=unused-import
from models import vit as _vit  # noqa: F401  pylint: disable=unused-import
from models import cct as _cct  # noqa: F401  pylint: disable=unused-import
from models import afvit as _afvit  # noqa: F401  pylint: disable=unused-import
# Importing the strategy modules registers 'aps', 'lps' and 'ideal' in DOWNSAMPLERS.
from models import alias_free as _alias_free  # noqa: F401  pylint: disable=unused-import
from models import polyphase as _polyphase  # noqa: F401  pylint: disable=unused-import

__all__ = ["MODELS", "afc_options", "build_model", "complete_saved_options", "count_params",
           "model_options", "uses_temperature"]
