"""deltaspace: declarative design-space search and benchmarking for parameter-efficient fine-tuning.

Importing the package is cheap: torch, transformers, ray and plotly load only when a
subpackage that needs them is used (a test asserts it).
"""

__version__ = "0.1.0"
