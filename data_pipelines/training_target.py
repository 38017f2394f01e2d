"""`TrainingTarget`: the decoder ids one example trains on.

Example:

```python
from data_pipelines.training_target import TrainingTarget

# <|startofprev|> " Hi" | <|startoftranscript|> <|notimestamps|> " Bye" <|endoftext|>
target = TrainingTarget([50360, 15902, 50257, 50362, 47843, 50256], loss_start=2)
target.ids[target.loss_start]  # 50257
```
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class TrainingTarget:
    """An example's decoder ids, and where their loss starts.

    Attributes:
        ids: list of int. `[<|startofprev|>, earlier text...]` when prompted,
            then `<|startoftranscript|>`, language, task, the text (or timed
            segments) and `<|endoftext|>`.
        loss_start: int. The number of leading ids that belong to the
            previous-text prompt: the targets predicting them, and the
            `<|startoftranscript|>` after them, carry no loss.
    """

    ids: list
    loss_start: int = 0
