"""The project's data layers (Kedro's data-engineering convention), in flow order."""

DATA_LAYERS = (
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
)
"""The folders under data/: raw input, clean tables and quarantine, customer timeline,
snapshots, model inputs, models, model outputs, reports."""
