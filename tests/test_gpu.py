"""fit() on CUDA trains as it does on the CPU: the same batches and the same noise give the same losses and weights.

Every test here is ``gpu``-marked: conftest.py skips them where torch sees no CUDA device (CI has none), so they run
on a machine with a GPU (``python -m pytest -q tests/test_gpu.py``). CUDA draws other random numbers than the CPU for
one seed, so the model takes its reparameterisation noise from a seeded CPU generator and moves it to its device;
the minibatches already come from fit's CPU generator. What remains is float32 arithmetic done by other kernels:
about 1e-7 relative per step (a float64 run differs from a float32 one by that much), far inside the tolerances.
The optimiser is plain SGD: each update is proportional to its gradient, so rounding differences stay rounding
differences (Adam's first step is lr * sign(gradient), which turns a gradient of pure rounding noise into a full
step either way).
"""

import pytest
import torch

from vaecourse.distributions import reparameterize
from vaecourse.models import VAE
from vaecourse.models.vae import VAEOutput
from vaecourse.objectives import elbo
from vaecourse.runtime import default_device
from vaecourse.train import fit

pytestmark = pytest.mark.gpu

SHAPE = (1, 8, 8)
STEPS, BATCH, LR = 8, 16, 1e-2
LOSS_RTOL = 1e-5  # per-step losses (about 44 nats); float32 vs float64 on the CPU differ by ~1e-7 relative
WEIGHT_ATOL, WEIGHT_RTOL = 1e-5, 1e-4  # final weights; float32 vs float64 differ by ~1e-7, training moves them ~1e-2


class CpuNoiseVAE(VAE):
    """A VAE whose eps ~ N(0, I) comes from its own seeded CPU generator and is then moved to the model's device,
    so that a CPU run and a CUDA run see the same z for the same x."""

    def forward(self, x):
        q_z = self.encode(x)
        eps = torch.randn(q_z.mu.shape, generator=self.noise).to(q_z.mu.device)  # (B, D)
        z = reparameterize(q_z.mu, q_z.logvar, eps=eps)
        return VAEOutput(q_z=q_z, z=z, p_x=self.decode(z))


@pytest.fixture(autouse=True)
def full_float32_matmuls():
    """No TF32 (10-bit mantissa) matrix products on the GPU, whatever the session set: they are what is compared."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    yield
    torch.set_float32_matmul_precision(before)


def _train(device: str):
    """A small VAE, initialised and fed identically for any device, after STEPS SGD steps of fit on ``device``:
    (its history, its weights before, its weights after, on the CPU, and the device its weights ended on)."""
    torch.manual_seed(0)
    model = CpuNoiseVAE(latent_dim=2, encoder="mlp28", image_shape=SHAPE)
    model.noise = torch.Generator().manual_seed(1)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    data = (torch.rand((64, *SHAPE), generator=torch.Generator().manual_seed(2)) > 0.5).float()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)  # made on the CPU: fit moves the model, same parameters
    history = fit(model, elbo, data, steps=STEPS, batch_size=BATCH, optimizer=optimizer, device=device, seed=3,
                  progress=False)
    after = {name: value.detach().cpu() for name, value in model.state_dict().items()}
    return history, before, after, next(model.parameters()).device


def test_auto_picks_cuda():
    assert default_device("auto") == torch.device("cuda")


def test_a_few_fit_steps_on_cuda_match_the_cpu():
    cpu, start, cpu_weights, cpu_device = _train("cpu")
    gpu, _, gpu_weights, gpu_device = _train("cuda")
    assert (cpu_device.type, gpu_device.type) == ("cpu", "cuda")
    assert gpu.steps == cpu.steps == list(range(STEPS))
    assert gpu.examples == cpu.examples == STEPS * BATCH
    assert gpu.keys() == cpu.keys()
    for key in cpu.keys():
        assert list(gpu[key]) == pytest.approx(list(cpu[key]), rel=LOSS_RTOL, abs=1e-6), key
    moved = max((cpu_weights[name] - start[name]).abs().max().item() for name in start)
    assert moved > 100 * WEIGHT_ATOL, f"training hardly moved the weights ({moved:.2g}): the comparison would be empty"
    for name, weight in cpu_weights.items():
        assert torch.allclose(gpu_weights[name], weight, atol=WEIGHT_ATOL, rtol=WEIGHT_RTOL), (
            f"{name}: CUDA and CPU weights differ by up to {(gpu_weights[name] - weight).abs().max().item():.2g}")
