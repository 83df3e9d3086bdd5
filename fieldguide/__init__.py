"""The Hugging Face Field Guide's helper package: the model kit, the catalog, exercise checks.

Notebooks start with ``fieldguide.setup(models=[...])``, which must run before transformers is
imported. Nothing here imports transformers or huggingface_hub at import time.
"""

from fieldguide.checks import check
from fieldguide.environment import CourseEnvironment, setup
from fieldguide.errors import FieldGuideError

__version__ = "0.1.0"
__all__ = ["CourseEnvironment", "FieldGuideError", "check", "setup", "__version__"]
