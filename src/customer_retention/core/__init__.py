"""What several stages share (no Kedro imports, no pipeline imports): the customer attribute
profile, run-mode facts and small helpers. A pipeline imports this package, ``models/`` and
``datasets/``, never another pipeline."""
