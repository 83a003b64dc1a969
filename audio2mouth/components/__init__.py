"""Pure torch networks of the audio2mouth stage (no Lightning, no Hydra)."""

from audio2mouth.components.discriminator import GANLoss, TCNDiscriminator
from audio2mouth.components.ensemble import Ensemble, ensemble_size, members_of
from audio2mouth.components.lstm import BiLSTM, DelayedLSTM
from audio2mouth.components.tcn import TCN, TCNGenerator
from audio2mouth.components.visemes import VisemeBlend, VisemeResidualTCN

__all__ = ["TCN", "BiLSTM", "DelayedLSTM", "Ensemble", "GANLoss", "TCNDiscriminator", "TCNGenerator", "VisemeBlend",
           "VisemeResidualTCN", "ensemble_size", "members_of"]
