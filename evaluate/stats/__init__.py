"""The statistics of evaluations: from per-image values to intervals and paired differences.

  per_image.py  every metric per image and size (the values every summary of eval.json is
                formed from) and their file eval/per_image.npz
  bootstrap.py  the hierarchical bootstrap: intervals of means over seeds and images and of
                paired differences
  paired.py     runs (the seeds of one setting) compared on their shared test images: the
                dict paired.json holds (rendered by evaluate.paired_tables)
  multiplicity.py  Holm's adjustment of paired.json's verdicts within declared families
  compare.py    the statistics of `python -m evaluate.compare`: each run's interval summary
                and the paired comparison of the runs
  seeds.py      mean and standard deviation over seeds, where no per-image values exist
Pure NumPy on per-image values: no JAX, no plotting. From the rest of evaluate/ they import
only evaluate.metrics (the metric definitions) and evaluate.json_values
(tests/test_layering.py); evaluate, sweeps, scripts and experiments import them.
"""
