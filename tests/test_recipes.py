"""Recipes: one named record per run, read alike by the command line, the notebooks' training and the checkpoints."""

from dataclasses import replace

import pytest
import torch

from vaecourse import checkpoints, recipes
from vaecourse.cli import main
from vaecourse.objectives import unnormalised_beta

TINY = ["--steps", "3", "--checkpoint-every", "100", "--device", "cpu", "--no-progress"]


@pytest.mark.parametrize("name", list(recipes.RECIPES))
def test_every_recipe_builds_its_model_objective_and_optimiser(name):
    recipe = recipes.get(name)
    shape = (3 if recipe.dataset == "pendulum" else 1, recipe.image_size, recipe.image_size)
    model = recipes.make_model(recipe, shape)
    assert tuple(model.image_shape) == shape
    assert callable(recipes.make_objective(recipe, model))
    assert recipes.make_optimizer(recipe, model).param_groups[0]["lr"] == recipe.lr
    assert recipe.name == name and recipes.RECIPES[name] is recipe


def test_a_recipe_on_the_command_line_is_its_flags(tmp_path):
    """--recipe ch2-beta4 and the flags the chapter-2 README spelled out train the same weights."""
    by_name, by_flags = tmp_path / "name.pt", tmp_path / "flags.pt"
    assert main(["train", "--recipe", "ch2-beta4", "--out", str(by_name), *TINY]) == 0
    assert main(["train", "--model", "vae", "--encoder", "conv32", "--image-size", "32", "--dataset", "dsprites",
                 "--batch-size", "64", "--lr", "1e-3", "--seed", "0", "--objective", "beta", "--beta", "4",
                 "--logvar-bias", "-4", "--out", str(by_flags), *TINY]) == 0
    a, b = checkpoints.read(by_name), checkpoints.read(by_flags)
    assert all(torch.equal(a.model.state_dict()[k], b.model.state_dict()[k]) for k in a.model.state_dict())
    stored = a.extra["arguments"]
    assert a.extra["recipe"] == "ch2-beta4 + steps" and stored["steps"] == 3
    assert {k: v for k, v in stored.items() if k in recipes.FIELDS and k not in ("name", "steps")} == \
        {k: v for k, v in recipes.get("ch2-beta4").arguments().items() if k not in ("name", "steps")}


def test_a_flag_overrides_one_field_of_the_recipe(tmp_path):
    out = tmp_path / "seed1.pt"
    assert main(["train", "--recipe", "ch2-beta8", "--seed", "1", "--out", str(out), *TINY]) == 0
    stored = checkpoints.read(out).extra["arguments"]
    assert stored["seed"] == 1 and stored["beta"] == 8.0 and stored["logvar_bias"] == -4.0


def test_train_is_the_command_lines_run(tmp_path):
    """recipes.train (what notebook 2 calls) draws the same initialisation, batches and noise as the train verb."""
    out = tmp_path / "cli.pt"
    assert main(["train", "--recipe", "ch2-beta2", "--out", str(out), *TINY]) == 0
    model, history = recipes.train(recipes.get("ch2-beta2"), device="cpu", steps=3, progress=False)
    saved = checkpoints.read(out)
    assert all(torch.equal(model.state_dict()[k], saved.model.state_dict()[k]) for k in model.state_dict())
    assert history.to_dict()["records"]["loss"] == saved.extra["history"]["records"]["loss"]


def test_train_ends_with_the_recipes_prune(tmp_path):
    """recipes.train runs the command line's end-of-run step too: the promise recipe prunes its graph, and the
    command line's checkpoint after the same steps holds the same edge mask and A."""
    out = tmp_path / "promise.pt"
    short = ["--steps", "3", "--batch-size", "4", "--no-progress"]
    assert main(["train", "--recipe", "ch5-causalvae-promise", "--out", str(out), *short]) == 0
    model, _ = recipes.train(replace(recipes.get("ch5-causalvae-promise"), batch_size=4), device="cpu", steps=3,
                             progress=False)
    saved = checkpoints.read(out).model
    assert torch.equal(model.edge_mask, saved.edge_mask) and torch.equal(model.adjacency(), saved.adjacency())


def test_beta_norm_counts_every_input_number_colour_included():
    """beta_norm = beta M / N with N = C * H * W [higgins2017]: an RGB 32x32 image has 3,072 numbers, not 1,024."""
    recipe = recipes.Recipe(objective="beta_norm", beta=0.01, dataset="pendulum", image_size=32, encoder="conv32")
    model = recipes.make_model(recipe, (3, 32, 32))
    objective = recipes.make_objective(recipe, model)
    assert objective.keywords["beta"] == pytest.approx(unnormalised_beta(0.01, 10, 3 * 32 * 32))
    assert objective.keywords["beta"] == pytest.approx(0.01 * 3072 / 10)


@pytest.mark.parametrize("change, message", [
    (dict(model="gan"), "unknown model 'gan'"),
    (dict(objective="mse"), "unknown objective 'mse'"),
    (dict(steps=0), "steps must be a positive int"),
    (dict(shadow_noise=1.0), "shadow_noise applies to dataset 'pendulum' only"),
    (dict(model="causalvae"), "needs labelled data"),
    (dict(prune=0.01), "prune applies to model 'causalvae'"),
    (dict(prune=-0.1), r"prune must be a fraction of l_u in \[0, 1\)"),
])
def test_a_recipe_refuses_what_cannot_run(change, message):
    with pytest.raises(ValueError, match=message):
        replace(recipes.get("ch2-beta4"), **change)


def test_an_unknown_recipe_lists_the_known_ones():
    with pytest.raises(ValueError, match="ch2-beta4"):
        recipes.get("ch2-beta5")
    assert main(["train", "--recipe", "ch2-beta4", "--steps", "0", "--out", "x.pt"]) == 2


def test_label_conditioned_models_read_elbo_as_their_own_objective():
    assert recipes.Recipe(model="causalvae", dataset="pendulum").objective == "causal"
    assert recipes.Recipe(model="cvae", dataset="pendulum").objective == "cvae"
