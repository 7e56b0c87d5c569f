"""Project settings. See https://docs.kedro.org/en/stable/configure/configuration_basics/"""

from customer_retention.hooks import DemoDataHook, NodeTimingHook

# Hooks are executed in a Last-In-First-Out (LIFO) order.
HOOKS = (DemoDataHook(), NodeTimingHook())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
