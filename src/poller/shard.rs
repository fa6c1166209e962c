//! Splitting an estate between replicas: each instance belongs to exactly one shard, chosen
//! by a stable hash of its region and id, so N exporters divide the API calls between them
//! and every instance is still polled once. The hash is mapped to a shard by jump consistent
//! hashing (Lamping and Veach, 2014), so going from N to N+1 shards moves about 1/(N+1) of the
//! instances, all of them to the new shard, instead of most of them.

use std::fmt;

/// This process's share: shard `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 {
            return Err("--shard.count must be at least 1".into());
        }
        if index >= count {
            return Err(format!("--shard.index must be below --shard.count ({count}), got {index}"));
        }
        Ok(Shard { index, count })
    }

    /// `--shard.index`: a number, or `auto` for the ordinal at the end of a StatefulSet pod's
    /// name (`dbs-exporter-2` -> 2), read from `hostname`.
    pub fn parse_index(text: &str, hostname: Option<&str>) -> Result<u32, String> {
        if text != "auto" {
            return text.parse().map_err(|_| format!("--shard.index must be a number or auto, got {text:?}"));
        }
        let host = hostname.ok_or("--shard.index=auto needs the HOSTNAME of a StatefulSet pod")?;
        host.rsplit_once('-').and_then(|(_, ordinal)| ordinal.parse().ok()).ok_or_else(|| {
            format!("--shard.index=auto: {host:?} does not end in -<ordinal> like a StatefulSet pod")
        })
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn owns(&self, region_id: &str, instance_id: &str) -> bool {
        self.count == 1 || shard_of(region_id, instance_id, self.count) == self.index
    }
}

/// FNV-1a over `region/instance` (stable across versions, platforms and restarts, which a
/// std `Hasher` does not promise), placed among `count` shards by [`jump`].
fn shard_of(region_id: &str, instance_id: &str, count: u32) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let bytes = region_id.bytes().chain(std::iter::once(b'/')).chain(instance_id.bytes());
    let hash = bytes.fold(OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME));
    jump(hash, count)
}

/// Jump consistent hash: the bucket in `0..buckets` of `key`. A key follows a pseudo-random
/// sequence of jumps seeded by itself and stays in the last bucket below `buckets`, so adding
/// a bucket moves a key only into the new one, and then with probability 1/buckets.
fn jump(mut key: u64, buckets: u32) -> u32 {
    let (mut bucket, mut next) = (0i64, 0i64);
    while next < i64::from(buckets) {
        bucket = next;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        next = ((bucket + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    bucket as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_instance_belongs_to_exactly_one_shard() {
        for count in 1..=7 {
            let shards: Vec<Shard> = (0..count).map(|i| Shard::new(i, count).unwrap()).collect();
            let mut per_shard = vec![0u32; count as usize];
            for n in 0..5_000 {
                let instance = format!("rm-bp1{n:08}");
                let owners: Vec<&Shard> =
                    shards.iter().filter(|s| s.owns("cn-hangzhou", &instance)).collect();
                assert_eq!(owners.len(), 1, "{instance} with {count} shards");
                per_shard[owners[0].index as usize] += 1;
            }
            let expected = 5_000 / count;
            assert!(per_shard.iter().all(|&n| n > expected * 8 / 10), "uneven split {per_shard:?}");
        }
    }

    #[test]
    fn the_assignment_is_pinned_so_upgrades_do_not_reshuffle_shards() {
        // FNV-1a("cn-hangzhou/rm-bp1imnmcjxdz7abcd") = 1060530435296200974, then jumped.
        let pinned: Vec<u32> =
            [1, 2, 3, 7, 1000].iter().map(|&n| shard_of("cn-hangzhou", "rm-bp1imnmcjxdz7abcd", n)).collect();
        assert_eq!(pinned, [0, 1, 1, 3, 3]);
    }

    #[test]
    fn jump_matches_the_published_algorithm() {
        // Values other implementations of Lamping and Veach's function agree on.
        assert_eq!(jump(1, 1), 0);
        assert_eq!(jump(42, 57), 43);
        assert_eq!(jump(0xDEAD_10CC, 666), 361);
        assert_eq!(jump(256, 1024), 520);
    }

    #[test]
    fn one_more_shard_moves_about_its_share_and_only_into_the_new_shard() {
        let instances: Vec<String> = (0..20_000).map(|n| format!("rm-bp1{n:08}")).collect();
        for count in 1..=12u32 {
            let mut moved = 0;
            for instance in &instances {
                let (before, after) =
                    (shard_of("cn-hangzhou", instance, count), shard_of("cn-hangzhou", instance, count + 1));
                if before != after {
                    assert_eq!(after, count, "{instance} moved between old shards");
                    moved += 1;
                }
            }
            let fraction = f64::from(moved) / instances.len() as f64;
            let share = 1.0 / f64::from(count + 1);
            assert!(
                (fraction - share).abs() < share * 0.15,
                "{count} -> {}: {fraction:.4} moved, about {share:.4} expected",
                count + 1
            );
        }
    }

    #[test]
    fn indexes_come_from_flags_or_a_statefulset_hostname() {
        assert_eq!(Shard::parse_index("2", None), Ok(2));
        assert_eq!(Shard::parse_index("auto", Some("dbs-exporter-3")), Ok(3));
        assert!(Shard::parse_index("auto", Some("dbs-exporter")).is_err());
        assert!(Shard::parse_index("auto", None).is_err());
        assert!(Shard::new(2, 2).is_err());
        assert!(Shard::new(0, 0).is_err());
    }
}
