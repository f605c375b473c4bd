"""Every MLflow tag key GANime writes or reads, in one place. Values are strings."""

from __future__ import annotations

# MLflow's own keys that GANime sets.
PARENT_RUN = "mlflow.parentRunId"
RUN_NOTE = "mlflow.note.content"  # the run's description (markdown) in the UI
SOURCE_NAME = "mlflow.source.name"
# MLflow 3's UI opens an experiment without this tag in its GenAI view (traces, prompts); this
# value opens the training-runs view.
EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_TRAINING = "custom_model_development"

# A training run.
JOB = "ganime.job"  # where the run's checkpoints live: the same job resumes the same run
FAMILY = "ganime.family"
DATA_HASH = "ganime.data_hash"
GIT_COMMIT = "ganime.git_commit"
RUNNER = "ganime.runner"  # local | ray_train: where the run trained

# A sweep's parent run and its trials' runs.
SWEEP = "ganime.sweep"  # on the parent and every child
TRIAL_ID = "ganime.trial_id"
TRIAL_NUMBER = "ganime.trial_number"
STOP_REASON = "ganime.stop_reason"  # completed / stopped early by ASHA at epoch N / interrupted ...
BEST_TRIAL = "ganime.best_trial"
BEST_TRIAL_RUN_ID = "ganime.best_trial_run_id"
SCHEDULE = "ganime.schedule"  # a PBT trial's values and exploits: 't03 lr=0.002 | epoch 2: ...'
EXPLOITS = "ganime.pbt_exploits"  # how many exploits a PBT trial took
PICK_RULE = "ganime.pick_rule"  # how a multi-objective sweep's best trial is picked from its front

# A compare's parent run and its methods' runs.
COMPARE = "ganime.compare"  # on the parent and every child
METHOD = "ganime.method"  # the child's row in the table
SEED = "ganime.seed"
RUN_KEY = "ganime.run_key"  # what the child's result depends on: the same key is reused

# A registered model version.
MODEL_ID = "ganime.model_id"  # the logged model a version was registered from
GENERATOR = "ganime.generator"  # best_generator or final_generator
# A version's SCHEDULE and PICK_RULE: the trial's schedule, the rule that picked it.
RUN_ID = "ganime.run_id"
CONFIG_HASH = "ganime.config_hash"
BACKBONE = "ganime.backbone"
REFERENCE = "ganime.reference"  # how a reference method's sketches got their references
SPLIT = "ganime.split"  # the data split an evaluation-only run measured
GATE = "ganime.gate"  # promoted: why / not promoted: why
HOLDOUT_PREFIX = "ganime.holdout."  # + a metric name: measured by the gate on the test split
HOLDOUT_SPLIT = "ganime.holdout.split"  # the split the gate measured (test)
HOLDOUT_IMAGES = "ganime.holdout.n"  # how many of its images
PREVIOUS_CHAMPION = "ganime.previous_champion"  # where --rollback moves the alias back to
PROMOTED_AT = "ganime.promoted_at"
ROLLED_BACK_AT = "ganime.rolled_back_at"


def holdout(metric: str) -> str:
    return f"{HOLDOUT_PREFIX}{metric}"
