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
        from synthaug.generators.vae import VAE

        return VAE
    if name == "wgan_gp":
        from synthaug.generators.wgan_gp import WGANGP

        return WGANGP
    if name == "ddpm":
        from synthaug.generators.ddpm import DDPM

        return DDPM
    if name == "cgan":
        from synthaug.generators.cgan import ConditionalProgressiveGAN

        return ConditionalProgressiveGAN
    raise ConfigError(f"generators.{name}: unknown generator; valid: {', '.join(GENERATOR_NAMES)}")


GENERATOR_NAMES = ("vae", "wgan_gp", "ddpm", "cgan")
