"""Models: the VAE (and beta-VAE, the same model with another objective); the hierarchical / Ladder VAE."""

from vaecourse.models.base import MODEL_REGISTRY, CourseModel, register_model
from vaecourse.models.vae import VAE, VAEOutput
from vaecourse.models.lvae import LadderOutput, LadderVAE  # chapter 4

__all__ = ["MODEL_REGISTRY", "VAE", "CourseModel", "VAEOutput", "register_model"]
__all__ += ["LadderOutput", "LadderVAE"]

from vaecourse.models.causalvae import CausalVAE, CausalVAEOutput, ConditionalVAE  # noqa: E402  chapter 5

__all__ += ["CausalVAE", "CausalVAEOutput", "ConditionalVAE"]
