"""Generative models of spectrograms; base.py holds the interface every generator follows.

`GENERATORS` maps the names used in params.yaml (and as DVC `foreach` keys) to their classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synthaug.errors import ConfigError

if TYPE_CHECKING:  # the base class imports torch; naming a generator must not
    from synthaug.generators.base import Generator


def generator_class(name: str) -> type[Generator]:
    """The Generator subclass for a params.yaml name (imported lazily: diffusers is slow to import)."""
    if name == "vae":
        from synthaug.generators.vae import VAE as cls
    elif name == "wgan_gp":
        from synthaug.generators.wgan_gp import WGANGP as cls
    elif name == "ddpm":
        from synthaug.generators.ddpm import DDPM as cls
    elif name == "cgan":
        from synthaug.generators.cgan import ConditionalProgressiveGAN as cls
    else:
        raise ConfigError(f"generators.{name}: unknown generator; valid: {', '.join(GENERATOR_NAMES)}")
    return cls


GENERATOR_NAMES = ("vae", "wgan_gp", "ddpm", "cgan")
