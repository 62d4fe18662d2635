"""Recipes: one named record per run, read alike by the command line, the notebooks' training and the checkpoints."""

from dataclasses import replace

import pytest
import torch

from vaecourse import checkpoints, recipes
from vaecourse.cli import main
from vaecourse.objectives import unnormalised_beta

TINY = ["--steps", "3", "--checkpoint-every", "100", "--device", "cpu", "--no-progress"]


@pytest.mark.parametrize("name", list(recipes.RECIPES))
def test_every_recipe_builds_its_run(name):
    recipe = recipes.get(name)
    run = recipes.build(recipe, device="cpu")
    shape = (3 if recipe.dataset == "pendulum" else 1, recipe.image_size, recipe.image_size)
    assert tuple(run.model.image_shape) == shape == tuple(run.data.image_shape)
    assert callable(run.objective) and run.optimizer.param_groups[0]["lr"] == recipe.lr
    assert run.device == torch.device("cpu") and run.model.device == run.device
    assert run.model.takes_labels == (recipe.model in ("causalvae", "cvae"))
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


def test_a_run_is_built_once_and_trained_by_one_loop(tmp_path):
    """build + train is the run: the command line's checkpoint after 3 steps holds exactly the weights and history of
    recipes.train(recipes.build(...)) in a notebook, and the promise recipe's end (the prune) runs in train itself."""
    out = tmp_path / "cli.pt"
    assert main(["train", "--recipe", "ch2-beta2", "--out", str(out), *TINY]) == 0
    run = recipes.build(recipes.get("ch2-beta2"), device="cpu", steps=3)
    history = recipes.train(run, progress=False)
    saved = checkpoints.read(out)
    assert all(torch.equal(run.model.state_dict()[k], saved.model.state_dict()[k]) for k in run.model.state_dict())
    assert history.to_dict()["records"]["loss"] == saved.extra["history"]["records"]["loss"]
    assert not run.model.training and run.pruned is None

    promise = recipes.build(replace(recipes.get("ch5-causalvae-promise"), batch_size=4), device="cpu", steps=3)
    recipes.train(promise, progress=False)
    assert isinstance(promise.pruned, dict)  # prune_graph ran (after 3 steps A may hold no edge to test)
    stopped = recipes.build(replace(recipes.get("ch5-causalvae-promise"), batch_size=4), device="cpu", steps=3)

    def stop_at_once(step, *_):
        from vaecourse.train import StopTraining
        raise StopTraining

    recipes.train(stopped, callbacks=[stop_at_once], progress=False)
    assert stopped.pruned is None  # a run stopped before its last step does not do the recipe's end


def test_train_continues_a_run_exactly_from_its_state():
    """Run.state / load_state and train(start_step=...) continue a run: 2 + 2 steps give the weights of 4 steps,
    also for epoch-shuffled digits (the epoch restarted from its saved generator state)."""
    for recipe in (replace(recipes.get("ch2-beta4"), batch_size=8), recipes.Recipe(model="lvae", dataset="digits",
                   objective="ladder", latent_sizes=(4, 2), hidden_sizes=(16, 8), batch_size=1024)):
        whole = recipes.build(recipe, device="cpu", steps=7)
        recipes.train(whole, progress=False)
        first = recipes.build(recipe, device="cpu", steps=3)
        history = recipes.train(first, progress=False)
        state, weights = first.state(), first.model.state_dict()
        second = recipes.build(recipe, device="cpu", steps=7)
        second.load_state(weights, state)
        recipes.train(second, start_step=3, history=history, progress=False)
        assert history.steps == list(range(7))
        assert all(torch.equal(whole.model.state_dict()[k], v) for k, v in second.model.state_dict().items())


def test_beta_norm_counts_every_input_number_colour_included():
    """beta_norm = beta M / N with N = C * H * W [higgins2017]: an RGB 32x32 image has 3,072 numbers, not 1,024."""
    recipe = recipes.Recipe(objective="beta_norm", beta=0.01, dataset="pendulum", image_size=32, encoder="conv32")
    objective = recipes.build(recipe, device="cpu").objective
    assert objective.keywords["beta"] == pytest.approx(unnormalised_beta(0.01, 10, 3 * 32 * 32))
    assert objective.keywords["beta"] == pytest.approx(0.01 * 3072 / 10)


@pytest.mark.parametrize("change, message", [
    (dict(model="gan"), "model must be one of vae, lvae, causalvae, cvae, got 'gan'"),
    (dict(objective="mse"), "objective must be one of elbo, .*, got 'mse'"),
    (dict(steps=0), "steps must be a number of steps between 1"),
    (dict(steps=True), "steps must be a number of steps"),
    (dict(batch_size=2.0), "batch_size must be a batch size"),
    (dict(lr=float("nan")), "lr must be a learning rate"),
    (dict(lr=1e-46), "float32 can hold"),
    (dict(latent_dim=10 ** 20), "latent_dim must be a number of units between 1 and 65,536"),
    (dict(objective="ladder"), "model vae cannot be trained with objective ladder"),
    (dict(gamma=10.0), r"gamma \(--gamma\) applies to objective capacity only"),
    (dict(decoder="per_concept"), "decoder .*applies to model causalvae only"),
    (dict(image_size=28, dataset="digits"), "image_size .*applies to dataset dsprites | pendulum"),
    (dict(shadow_noise=1.0), r"shadow_noise \(--shadow-noise\) applies to dataset pendulum only"),
    (dict(model="causalvae"), "needs labelled data"),
    (dict(prune=0.01), "prune .*applies to model causalvae only"),
    (dict(prune=-0.1), r"prune must be a fraction in \[0, 1\)"),
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


def test_the_batch_norm_rule_and_combinations_hold_for_every_caller():
    """A notebook's Recipe is refused as the command line is: no objective the model cannot train, no batch of one
    for batch norm, a batch larger than a finite training set refused when the run is built."""
    with pytest.raises(ValueError, match="batch_size >= 2"):
        recipes.Recipe(model="lvae", objective="ladder", dataset="digits", batch_size=1)
    assert recipes.Recipe(model="lvae", objective="ladder", dataset="digits", batch_size=1, batch_norm=False)
    with pytest.raises(ValueError, match="larger than the digits training set"):
        recipes.build(recipes.Recipe(model="lvae", objective="ladder", dataset="digits", batch_size=60_000))


def test_each_field_is_declared_once_and_the_flags_are_the_fields():
    """Every Recipe field but the name has a kind and a help, and the train verb has exactly one flag per field."""
    import argparse
    from dataclasses import fields

    from vaecourse.cli.train import add_train_arguments
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    dests = {a.dest for a in parser._actions}
    for f in fields(recipes.Recipe):
        if f.name == "name":
            continue
        assert f.metadata["help"] and f.metadata["kind"] is not None, f.name
        assert f.name in dests, f.name


def test_a_recipe_refuses_an_architecture_built_for_another_image_size_in_the_flags_words():
    """Issue 25 (the third probe): conv32 on 64x64 dSprites, conv64 on the 28x28 digits were refused only when the
    network was built, in the architecture's words; a name of 3 was taken; build('ch1-vae') an AttributeError."""
    from vaecourse.recipes import Recipe
    for fields_, words in ((dict(encoder="conv32"), r"conv32 is built for 32x32 images, and the dsprites images are "
                                                   r"64x64: use --image-size 32, or --encoder mlp"),
                           (dict(dataset="digits"), r"conv64 is built for 64x64 images, and the digits images are "
                                                    r"28x28: use --encoder mlp28 or mlp"),
                           (dict(model="causalvae", dataset="pendulum", image_size=32), r"conv64 is built for 64x64"),
                           (dict(name=3), "a recipe's name must be a non-empty string")):
        with pytest.raises(ValueError, match=words):
            Recipe(**fields_)
    assert Recipe(dataset="digits", encoder="mlp28").encoder == "mlp28"
    assert Recipe(encoder="mlp", image_size=32).image_size == 32  # the MLPs take any size
    assert Recipe(model="lvae", dataset="digits", objective="ladder").model == "lvae"  # (no --encoder there)
    with pytest.raises(ValueError, match=r"latent_sizes \(--latent-sizes\) and hidden_sizes \(--hidden-sizes\) take "
                                         r"one entry per stochastic layer each, got 2 latent sizes 4,2 and 3 hidden"):
        Recipe(model="lvae", dataset="digits", objective="ladder", latent_sizes=(4, 2), hidden_sizes=(8, 8, 8))
    with pytest.raises(TypeError, match=r"build takes a Recipe \(recipes.get\(name\)"):
        recipes.build("ch1-vae")
