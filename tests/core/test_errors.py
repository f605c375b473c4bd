"""One line from an error's text, as GANime's one-line failure reasons take it."""

from ganime_core.errors import exception_message, last_line

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "train.py", line 3, in step\n'
    "ganime_core.errors.TrialFailed: loss gen_total became nan at epoch 1\n\n"
)


def test_the_last_line_is_the_one_naming_the_exception() -> None:
    assert (
        last_line(TRACEBACK)
        == "ganime_core.errors.TrialFailed: loss gen_total became nan at epoch 1"
    )
    assert last_line("  \n") == ""


def test_the_exception_message_drops_only_an_exception_name() -> None:
    assert exception_message(TRACEBACK) == "loss gen_total became nan at epoch 1"
    # a message that merely has a colon keeps its words
    assert exception_message("no room: lower trial.workers") == "no room: lower trial.workers"
    assert exception_message("RuntimeError") == "RuntimeError"
