"""The lr row, beyond the table: the ways a per-step learning rate reaches each framework.

MindSpore's nn.Adam takes a list, a 1-d Tensor or a LearningRateSchedule as
`learning_rate`; torch users write group["lr"] before each step or let an LR scheduler
(LambdaLR here) do it. Every form runs the same generated schedules against the spec,
whose schedule keeps its last value once it has ended. MindSpore's list and Tensor forms
index the schedule by global_step and fail past its end (measured), so a schedule shorter
than the run is `unsupported` for them with that reason, and runs through the
LearningRateSchedule form, which can say "keep the last value".
"""

from hypothesis import given, settings

from harness.conformance import assert_conforms
from harness.pytest_plugin import scaled
from harness.strategies import lr_schedule_cases

ROW = "lr"
IMPLEMENTATIONS = ("reference", "torch", "torch-lr-scheduler", "torch-tensor-lr", "mindspore", "mindspore-lr-tensor",
                   "mindspore-lr-schedule")


@settings(max_examples=scaled(30))
@given(case=lr_schedule_cases())
def test_lr_schedule_forms(case):
    assert_conforms(case, ROW, "test_lr_schedule_forms", implementations=list(IMPLEMENTATIONS))
