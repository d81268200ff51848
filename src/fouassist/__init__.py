"""fouassist: cited answers from Swedish and Norwegian healthcare R&D strategy documents."""

__version__ = "0.1.0"
