import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread_per_worker():
    # Small models on 2 cores: one thread avoids oversubscription between processes.
    torch.set_num_threads(1)
