"""Generative models of spectrograms; base.py holds the interface every generator follows."""
