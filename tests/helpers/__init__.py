"""Helpers shared by tests in several folders (not tests themselves): import them as `tests.helpers.<name>`.

The test suite is a package (every folder has an `__init__.py`), so that test files of the same name
in two folders never clash and every folder imports these helpers the same way."""
