//! Splitting an estate between replicas: each instance belongs to exactly one shard, chosen
//! by a stable hash of its region and id, so N exporters divide the API calls between them
//! and every instance is still polled once.

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

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn owns(&self, region_id: &str, instance_id: &str) -> bool {
        self.count == 1 || shard_of(region_id, instance_id, self.count) == self.index
    }
}

/// FNV-1a over `region/instance`: stable across versions, platforms and restarts, which a
/// std `Hasher` does not promise.
fn shard_of(region_id: &str, instance_id: &str, count: u32) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let bytes = region_id.bytes().chain(std::iter::once(b'/')).chain(instance_id.bytes());
    let hash = bytes.fold(OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME));
    (hash % u64::from(count)) as u32
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
        // FNV-1a("cn-hangzhou/rm-bp1imnmcjxdz7abcd") = 1060530435296200974.
        assert_eq!(shard_of("cn-hangzhou", "rm-bp1imnmcjxdz7abcd", 1000), 974);
        assert_eq!(shard_of("cn-hangzhou", "rm-bp1imnmcjxdz7abcd", 7), 0);
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
