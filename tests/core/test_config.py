"""Frozen configuration (bench/core/config.py): canonical JSON for run hashes, and the recipe's LR steps."""

from bench.core.config import Recipe, canonical_json


def test_canonical_json_is_order_independent():
    assert canonical_json({"b": 1, "a": (1, 2)}) == canonical_json({"a": [1, 2], "b": 1}) == '{"a":[1,2],"b":1}'


def test_recipe_lr_schedule():
    recipe = Recipe(epochs=160, lr=0.1, milestones=(0.5, 0.75), gamma=0.1, batch_size=64)
    assert recipe.milestone_epochs() == (80, 120)
    assert [recipe.step_lr(e) for e in (0, 79, 80, 119, 120, 159)] == [0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1, 0.1 * 0.1 * 0.1, 0.1 * 0.1 * 0.1]
