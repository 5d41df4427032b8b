"""The defaults of a run, in one place: RunSpec's fields, the CLI's flags and the sweep's grid keys
all read them from here (a module without imports, so that `bench --help` stays fast)."""

MODEL = "resnet20"
DATASET = "digits"
SPLIT_SEED = 0
PROTOCOL = "clr-90"
SEEDS = (0, 1, 2)
MAX_SEEDS = 1000  # seeds of one run: far above any paper's, bounded before a list is built
RATIO = 0.5
ITERATIONS = 1
MAX_ITERATIONS = 100  # pruning steps of one run, each a full retraining
MAX_CALIBRATION_IMAGES = 10_000  # an adapter's scoring batches × batch size (HRank scores on 640)
MAX_THREADS = 1024  # CPU threads of one run: more than any machine's cores only thrash
DENSE_SEED = 0
RANDOM_CONTROL = True
# The layout of the model and its batches while training: channels_last is faster on CPU and GPU alike
# (docs/performance.md); "contiguous" is what CPU runs trained in before it was a choice.
MEMORY_FORMAT = "channels_last"
MEMORY_FORMATS = ("channels_last", "contiguous")
PRECISIONS = ("bf16", "fp32")  # of the training forward
RUNS_DIR = "runs"
RECORDS_DIR = "results"
