"""The errors a person can act on: bad input, parameters that do not fit, a busy project, a
missing upstream stage. Their messages say what is wrong and what to do, so ``kedro run`` shows
the message alone (``customer_retention.cli``); ``--verbose`` adds the traceback."""


class ActionableError(Exception):
    """Base of the errors whose message is the whole story (module docstring)."""
