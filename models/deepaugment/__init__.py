"""DeepAugment (EDSR and CAE image-to-image networks with distorted weights and activations) and
Noise2Net, after hendrycks/imagenet-r; see ``docs/deepaugment.md``.

Modules: ``edsr``/``cae`` (networks with the published parameter names), ``distortions`` (weight
distortions and the 0.05 re-sampling chain), ``activations`` (activation distortions), ``batched``
(one pass, one perturbed network per image), ``noise2net``, ``augment`` (the training-time
``Augmentation`` factories), ``fit`` (clean weights from your own images), ``generate`` (static
distorted exports) and ``cli``. Nothing here imports torch at package import.
"""
