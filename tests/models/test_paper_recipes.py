"""Each paper-row recipe against the released values, written out here from the released code (file and
line in a comment; hendrycks/imagenet-r and google-research/augmix at their public heads), and the README
table generated from the recipes."""

from __future__ import annotations

import pytest

from models import recipe_table
from models.recipe import builtin_recipes, load_recipe

IMAGENET_R = "hendrycks/imagenet-r"


def _deepaugment_common(r) -> None:
    """DeepAugment/train.py and train_noise2net.py share these."""
    assert r.model == "resnet50"                       # train.py:32 / train_noise2net.py:38 default arch
    assert r.init == "torchvision:IMAGENET1K_V1"       # train.py:149, train_noise2net.py:173 pretrained=True forced
    assert r.num_classes == 1000                       # ImageNet train folder, 1000 classes (train.py:219)
    assert r.epochs == 30                              # train.py:39 / train_noise2net.py:45
    assert r.batch_size == 1024                        # train.py:43 / train_noise2net.py:49
    assert (r.optimizer, r.lr, r.lr_scale_batch) == ("sgd", 0.1, False)  # train.py:48,183 (lr not scaled)
    assert r.momentum == 0.9                           # train.py:50
    assert r.weight_decay == 1e-4                      # train.py:52
    assert r.nesterov is True                          # train.py:185 / train_noise2net.py:209
    assert (r.schedule, r.final_lr) == ("cosine", 1e-6)  # train.py:267-277 per-step cosine to 1e-6/(lr*b/256)
    assert (r.image_size, r.min_scale, r.max_scale) == (224, 0.08, 1.0)  # train.py:222 RandomResizedCrop(224)
    assert (r.eval_resize, r.eval_crop, r.eval_squash) == (256, 224, False)  # train.py:259-260
    assert r.workers == 30                             # train.py:37
    assert (r.precision, r.decode) == ("fp32", "full")  # no autocast/half anywhere; PIL full decode (ImageFolder)
    assert r.paper_row and r.release and r.command


def test_deepaugment_recipe():
    r = load_recipe("deepaugment")
    _deepaugment_common(r)
    assert r.aug == "none"                             # train.py:246 ConcatDataset([imagenet, EDSR, CAE]), no aug
    assert "--train IN1K-edsr --train IN1K-cae" in r.command


def test_noise2net_recipe():
    r = load_recipe("noise2net")
    _deepaugment_common(r)
    assert r.aug == "noise2net"
    assert r.aug_options["noise2net"]["max_eps"] == 0.75   # train_noise2net.py:35 --noisenet-max-eps 0.75
    assert r.aug_options["noise2net"]["fraction"] == 0.5   # train_noise2net.py:401 int(batch_size / 2)


def test_deepaugment_noise2net_recipe():
    r = load_recipe("deepaugment-noise2net")
    _deepaugment_common(r)
    assert r.aug == "noise2net" and r.aug_options["noise2net"] == {"fraction": 0.5, "max_eps": 0.75}
    assert "--train IN1K-edsr --train IN1K-cae" in r.command  # train_noise2net.py:255,267 --extra-dataset edsr/cae


def _augmix_optimiser(r) -> None:
    """google-research/augmix imagenet.py."""
    assert (r.optimizer, r.momentum, r.nesterov) == ("sgd", 0.9, False)  # imagenet.py:69,402-406 (no nesterov)
    assert (r.lr, r.lr_scale_batch) == (0.1, True)     # imagenet.py:64 lr 0.1; :157,165 lr * batch/256
    assert r.weight_decay == 1e-4                      # imagenet.py:74
    assert r.schedule == "step"                        # imagenet.py:155-167 x0.1 at epochs//3 and 2*(epochs//3)
    opts = r.aug_options["augmix"]
    assert (opts["severity"], opts["width"], opts["depth"], opts["alpha"]) == (1, 3, -1, 1.0)  # imagenet.py:79-95
    assert opts["all_ops"] is False                    # imagenet.py:103-106 --all-ops off by default
    assert (opts["jsd"], opts["jsd_weight"]) == (True, 12.0)  # imagenet.py:98-101 JSD on; :289 weight 12
    assert (r.eval_resize, r.eval_crop) == (256, 224)  # imagenet.py:375-376
    assert (r.image_size, r.min_scale) == (224, 0.08)  # imagenet.py:369 RandomResizedCrop(224)
    assert r.precision == "fp32"


def test_augmix_recipe():
    r = load_recipe("augmix")
    _augmix_optimiser(r)
    assert (r.model, r.num_classes) == ("resnet50", 1000)  # imagenet.py:53 resnet50 on ImageNet
    assert r.init == "scratch"                         # imagenet.py:398-400 (no --pretrained)
    assert (r.epochs, r.batch_size) == (90, 256)       # imagenet.py:59, :67
    assert r.aug_options["augmix"]["fill"] == 0        # augmentations.py:73,85-87 no fillcolor: black
    assert "180" in r.differs                          # augmix README: released model trained 180 epochs


@pytest.mark.parametrize("name,model", [("deepaugment-augmix", "resnet50"),
                                        ("resnext101-deepaugment-augmix", "resnext101_32x8d"),
                                        ("resnext101-deepaugment-augmix-noise2net", "resnext101_32x8d")])
def test_deepaugment_augmix_recipes(name, model):
    r = load_recipe(name)
    _augmix_optimiser(r)
    assert (r.model, r.num_classes, r.epochs, r.batch_size) == (model, 1000, 30, 256)
    assert r.init == "torchvision:IMAGENET1K_V1"       # DeepAugment/train.py:149 pretrained start (assumed)
    assert r.aug_options["augmix"]["fill"] == 128      # maintainer's posted ImageNet AugMix code: fill 128
    assert "No released" in r.differs or "no released" in r.differs
    if name.endswith("noise2net"):
        assert r.aug == "noise2net+augmix" and r.aug_options["noise2net"] == {"fraction": 0.5, "max_eps": 0.75}


def _dfr_common(r, model="resnet50", init="torchvision:IMAGENET1K_V1") -> None:
    """deepfashion_remix/train.py defaults."""
    assert (r.model, r.init) == (model, init)          # train.py:183-209 pretrained backbones
    assert r.num_classes == 13                         # train.py:315 --num_classes 13
    assert r.epochs == 80                              # train.py:319
    assert r.batch_size == 100                         # train.py:323
    assert r.optimizer == "adam"                       # train.py:309 --opt adam
    assert (r.lr, r.head_lr) == (1e-5, 1e-4)           # train.py:325 lr 1e-4; :236 backbone lr/10, head lr
    assert r.weight_decay == 0.0                       # train.py:236 Adam without weight_decay
    assert r.schedule == "constant"                    # train.py:337 --use_scheduler off by default
    assert r.loss == "bce"                             # train.py:256 BCEWithLogitsLoss
    assert (r.image_size, r.min_scale, r.max_scale) == (256, 0.5, 2.0)  # train.py:317, :49-50 RRC scale (0.5, 2.0)
    assert (r.eval_resize, r.eval_crop, r.eval_squash) == (256, 0, True)  # train.py:71 / validate.py:40 Scale((256,256))
    assert r.workers == 4                              # train.py:313
    assert r.precision == "fp32"
    assert r.release.startswith(f"{IMAGENET_R} deepfashion_remix/train.py")


def test_dfr_recipe():
    r = load_recipe("dfr")
    _dfr_common(r)
    assert r.aug == "none"                             # train.py:60-66 flip + RRC only


def test_dfr_speckle_recipe():
    r = load_recipe("dfr-speckle")
    _dfr_common(r)
    # train.py:32 stds (.15, .2, .35, .45, .6) drawn per image; :57 RandomApply(..., p=0.5)
    assert r.aug == "speckle" and r.aug_options["speckle"] == {"severity": "random", "p": 0.5}
    assert "each colour channel" in r.differs


def test_dfr_random_erasing_recipe():
    r = load_recipe("dfr-random-erasing")
    _dfr_common(r)
    # train.py:67-68 transforms.RandomErasing() with torchvision's defaults (p 0.5, value 0 after Normalize)
    assert r.aug == "random-erasing" and r.aug_options["random-erasing"] == {"p": 0.5, "value": "mean"}


def test_dfr_augmix_recipe():
    r = load_recipe("dfr-augmix")
    _dfr_common(r)
    opts = r.aug_options["augmix"]
    assert opts["width"] == 5                          # deepfashion_remix/augmix.py:108 aug_width 5
    assert opts["alpha"] == 1.0                        # augmix.py:109
    assert opts["depth"] == -1                         # augmix.py:158 randint(1, 4)
    assert opts["severity"] == 10                      # train.py:339 --augmix SEVERITY (the paper's runs: 10)
    assert opts["all_ops"] is True                     # augmix.py:110-124: 13 ops incl. color/contrast/...
    assert opts["jsd"] is False                        # train.py:273-280 BCE only, no JSD
    assert opts["fill"] == 128                         # augmix.py:46,56 fillcolor=128


def test_dfr_stylized_and_deepaugment_recipes():
    r = load_recipe("dfr-stylized")
    _dfr_common(r)
    assert r.aug == "style-transfer" and r.aug_options["style-transfer"] == {"p": 0.5}  # train.py:93-103 concat
    d = load_recipe("dfr-deepaugment")
    _dfr_common(d)
    assert d.aug == "none" and "--train DFR-edsr --train DFR-cae" in d.command  # train.py:113-141 clean+EDSR+CAE


@pytest.mark.parametrize("name,model,init", [
    ("dfr-resnet101", "resnet101", "torchvision:IMAGENET1K_V1"),   # train.py:178-179
    ("dfr-resnet152", "resnet152", "torchvision:IMAGENET1K_V1"),   # train.py:188-189
    ("dfr-se-resnet50", "seresnet50", "timm:ra2_in1k"),            # train.py:193-194 (moskomule weights: differs)
    ("dfr-bit-m-r50x1", "resnetv2_50x1_bit", "timm:goog_in21k"),   # train.py:198-200 BiT-M-R50x1.npz
    ("dfr-bit-m-r101x1", "resnetv2_101x1_bit", "timm:goog_in21k"),  # train.py:204-206 BiT-M-R101x1.npz
])
def test_dfr_backbone_recipes(name, model, init):
    r = load_recipe(name)
    _dfr_common(r, model, init)
    assert r.aug == "none"
    if "bit" in name or "se" in name:
        assert r.differs  # the head / weights that differ are stated


def test_every_paper_recipe_is_tested_and_in_the_readme():
    tested = {"deepaugment", "noise2net", "deepaugment-noise2net", "augmix", "deepaugment-augmix",
              "resnext101-deepaugment-augmix", "resnext101-deepaugment-augmix-noise2net", "dfr", "dfr-speckle",
              "dfr-random-erasing", "dfr-augmix", "dfr-stylized", "dfr-deepaugment", "dfr-resnet101",
              "dfr-resnet152", "dfr-se-resnet50", "dfr-bit-m-r50x1", "dfr-bit-m-r101x1"}
    paper = {n for n in builtin_recipes() if load_recipe(n).paper_row}
    assert paper == tested, "a new paper-row recipe needs its test against the released values here"


def test_readme_recipe_table_is_current():
    readme = recipe_table.README.read_text(encoding="utf-8")
    assert recipe_table.render(readme) == readme, "run: python -m models.recipe_table"
    for name in builtin_recipes():
        r = load_recipe(name)
        if r.paper_row:
            assert f"`{name}`" in readme and f"{r.init}, {r.precision}" in readme


def test_table_check_fails_when_stale(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{recipe_table.START}\n| old | table |\n{recipe_table.END}\nrest\n")
    assert recipe_table.main(["--readme", str(readme), "--check"]) == 1
    assert recipe_table.main(["--readme", str(readme)]) == 0
    assert recipe_table.main(["--readme", str(readme), "--check"]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "| ResNet-50 + AugMix" in text
