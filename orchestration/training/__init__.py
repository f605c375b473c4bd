"""Where a run trains: in this process (`local`) or on Ray Train workers (`ray_train`). Both
drive ganime_core's TrainingRun and record its reports with the same MLflow sink, so a run
looks the same in MLflow whichever trained it."""
