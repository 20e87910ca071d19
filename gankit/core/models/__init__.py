"""Generator/discriminator pairs by name (``gankit list models``).

Every generator maps z (B, latent_dim) to images (B, C, H, W); every discriminator maps
images (B, C, H, W) to logits (B,). The Sigmoid of the tutorial's D lives in the loss
(``binary_cross_entropy_with_logits``), which is the same function, computed stably.
"""

from gankit.core.models.registry import MODELS, build_models, count_parameters
from gankit.core.models import mlp, dcgan  # noqa: F401  (register themselves)
from gankit.core.models import resnet  # noqa: F401,E402  (SNGAN-style ResNet)
from gankit.core.models import toy  # noqa: F401,E402  (2-D points)

__all__ = ["MODELS", "build_models", "count_parameters"]
