"""jupyter_kernel_test's standard checks against the installed Finch kernel (see run.sh)."""
import unittest

import jupyter_kernel_test


class FinchKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "finch"
    language_name = "finch"
    file_extension = ".finch"

    code_hello_world = 'print "hello, world"'
    code_stderr = 'print "oops" to=stderr'

    completion_samples = [{"text": "dat", "matches": {"data"}}]
    complete_code_samples = ["6*7", "data show"]
    incomplete_code_samples = ["x = [1,", 'print """abc']
    invalid_code_samples = ["x = ]"]

    # `COMMAND?` opens help in the pager (jupyter_kernel_test calls this sample code_page_something).
    code_page_something = "lora?"
    code_generate_error = "frobnicate"
    code_execute_result = [
        {"code": "6*7", "result": "42"},
        {"code": "x = 2\nx ** 10", "result": "1024"},
    ]
    # A statement's output before the cell's last statement is display_data (the last one is the result).
    code_display_data = [{"code": 'plot schedule kind=cosine steps=100\nprint "plotted"', "mime": "image/svg+xml"}]

    code_history_pattern = "6*?"
    supported_history_operations = ("tail", "range", "search")

    code_inspect_sample = "lora"
    code_clear_output = "clear"


class FinchIopubWelcomeTests(jupyter_kernel_test.IopubWelcomeTests):
    """Protocol 5.5: a new iopub subscription is greeted with iopub_welcome (the kernel's iopub is an XPUB)."""

    kernel_name = "finch"
    support_iopub_welcome = True


if __name__ == "__main__":
    unittest.main()
