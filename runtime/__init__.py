"""What training and evaluation both use for a run, below both (imports neither):

  checkpointing.py  orbax checkpoints of a workdir (state + config): write, restore onto the
                    current mesh, fall back to the previous one
  resume_config.py  what may change on resume: the checkpoint's config against the new one
  numerics.py       deterministic GPU ops (training) and the evaluation's matmul precision
  mesh.py           the data-parallel device mesh and its shardings
  run_files.py      config.json, summary.json, metrics.jsonl of a workdir
  run_config.py     load_run_config(workdir): the saved config of a run (with its resumes)
  variables.py      model_variables(params, batch_stats): what model.apply takes
  accuracy.py       top-1 accuracy on the device, in batches sharded over the devices
  progress.py       progress lines and durations on the terminal
  hosts.py          the processes of a multi-host run: joining, agreeing, stopping together,
                    gathering outputs
  workdir_lock.py   workdir.lock: one writer per workdir (an OS lock that dies with its holder;
                    evaluations hold it shared)
  lock_owner.py     the owner record in workdir.lock (host, pid, pid namespace), for messages
  preemption.py     SIGTERM / a platform's preemption notice: save the next step, exit 143
"""
