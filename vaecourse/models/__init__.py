"""Models: the VAE (and beta-VAE, the same model with another objective); the hierarchical / Ladder VAE
(chapter 4); CausalVAE and its conditional-VAE baseline (chapter 5)."""

from vaecourse.models.base import MODEL_REGISTRY, CourseModel, register_model
from vaecourse.models.vae import VAE, VAEOutput
from vaecourse.models.ladder import LadderOutput, LadderVAE
from vaecourse.models.causal import CausalVAE, CausalVAEOutput, ConditionalVAE

__all__ = ["MODEL_REGISTRY", "CourseModel", "register_model", "VAE", "VAEOutput", "LadderOutput", "LadderVAE",
           "CausalVAE", "CausalVAEOutput", "ConditionalVAE"]
