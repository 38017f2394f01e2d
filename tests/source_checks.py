"""Checks that every speech source must pass, shared by the source tests."""

import collections


def example_ids(examples):
    return [example.id for example in examples]


def assert_shards_partition(source, num_shards):
    """Shards are deterministic, disjoint and together the whole source."""
    everything = example_ids(source.examples())
    shards = [
        example_ids(source.examples(shard_index=index, num_shards=num_shards))
        for index in range(num_shards)
    ]
    again = [
        example_ids(source.examples(shard_index=index, num_shards=num_shards))
        for index in range(num_shards)
    ]
    assert shards == again
    counts = collections.Counter(id for shard in shards for id in shard)
    assert all(count == 1 for count in counts.values()), counts
    assert sorted(counts) == sorted(everything)
    assert len(set(everything)) == len(everything)
    return shards
