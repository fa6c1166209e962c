//! The demo's estate as the discovery APIs list it: every instance of the demo, as an instance
//! discovery applies to, and beside it in each region instances that discovery must pass over,
//! so the demo shows the filters at work.

use super::demo_accounts;
use crate::estate::{SimDbInstance, SimDbKind};

impl SimDbInstance {
    /// An applicable instance of the engine its id's prefix names: `pgm-` RDS PostgreSQL, `pc-`
    /// PolarDB MySQL, `dds-` a MongoDB replica set, anything else (`rm-`) RDS MySQL.
    pub fn by_id_prefix(region: impl Into<String>, id: impl Into<String>) -> Self {
        let id = id.into();
        if id.starts_with("pgm-") {
            SimDbInstance::rds_postgresql(region, id)
        } else if id.starts_with("pc-") {
            SimDbInstance::polardb_mysql(region, id)
        } else if id.starts_with("dds-") {
            SimDbInstance::mongo_replicate(region, id)
        } else {
            SimDbInstance::rds_mysql(region, id)
        }
    }
}

/// The part of an id that Alibaba derives from the region (`bp1` for Hangzhou, ...).
fn region_code(region: &str) -> &'static str {
    match region {
        "cn-hangzhou" => "bp1",
        "cn-shanghai" => "uf6",
        "ap-southeast-1" => "t4n",
        _ => "x0y",
    }
}

/// Instances of `region` that discovery lists but does not poll: a read-only replica, a MySQL
/// instance on local disks, one being created, a PolarDB for PostgreSQL cluster, SQL Server.
fn passed_over(region: &str, team: &str) -> Vec<SimDbInstance> {
    let code = region_code(region);
    let id = |name: &str| name.replacen('*', code, 1);
    vec![
        SimDbInstance::rds(region, id("rr-*demoreadonly1"), "MySQL", "Readonly", "cloud_essd")
            .with_description("read-only replica")
            .with_tag("env", "prod")
            .with_tag("team", team),
        SimDbInstance::rds(region, id("rm-*demolocalssd1"), "MySQL", "Primary", "local_ssd")
            .with_description("MySQL on local SSDs")
            .with_tag("env", "prod"),
        SimDbInstance::rds_mysql(region, id("rm-*democreating1"))
            .with_status("Creating")
            .with_description("being created")
            .with_tag("env", "staging"),
        SimDbInstance::new(
            region,
            id("pc-*demopgsql001"),
            SimDbKind::PolarDb { db_type: "PostgreSQL".into() },
        )
        .with_description("PolarDB for PostgreSQL")
        .with_tag("env", "staging")
        .with_tag("team", team),
        SimDbInstance::rds(region, id("rm-*demomssql001"), "SQLServer", "Primary", "cloud_essd")
            .with_description("SQL Server"),
    ]
}

/// The demo's estate: each instance of [`demo_regions`](crate::sample::demo_regions) as an
/// applicable instance of its prefix's engine, tagged `env=prod` and a `team`, then in each
/// region the instances discovery passes over.
pub fn demo_db_instances() -> Vec<SimDbInstance> {
    let mut estate = Vec::new();
    for (account, regions) in demo_accounts() {
        let team = if account == "prod" { "shop" } else { "data" };
        for (region, instances) in regions {
            for (id, _cluster) in &instances {
                let instance = SimDbInstance::by_id_prefix(&region, id)
                    .with_description(&format!("demo {id}"))
                    .with_tag("env", "prod")
                    .with_tag("team", team);
                estate.push(instance);
            }
            estate.extend(passed_over(&region, team));
        }
    }
    estate
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::sample::demo_regions;

    #[test]
    fn prefixes_name_the_engine() {
        let kind = |id: &str| SimDbInstance::by_id_prefix("cn-hangzhou", id).kind;
        assert_eq!(kind("pgm-1"), SimDbInstance::rds_postgresql("r", "i").kind);
        assert_eq!(kind("pc-1"), SimDbKind::PolarDb { db_type: "MySQL".into() });
        assert_eq!(kind("dds-1"), SimDbKind::MongoReplicate);
        assert_eq!(kind("rm-1"), SimDbInstance::rds_mysql("r", "i").kind);
        assert_eq!(kind("anything"), SimDbInstance::rds_mysql("r", "i").kind);
    }

    #[test]
    fn every_demo_instance_is_discovered_running_and_tagged() {
        let estate = demo_db_instances();
        for (region, instances) in demo_regions() {
            for (id, _) in instances {
                let found = estate.iter().find(|i| i.region == region && i.id == id).expect("listed");
                assert_eq!(found.status, "Running");
                assert!(found.has_tag("env", Some("prod")));
            }
        }
    }

    /// The issue's rule: which instances discovery polls.
    fn applicable(instance: &SimDbInstance) -> bool {
        let kind_fits = match &instance.kind {
            SimDbKind::Rds { engine, instance_type, storage_type } => {
                instance_type == "Primary"
                    && (engine == "PostgreSQL"
                        || (engine == "MySQL"
                            && !matches!(storage_type.as_str(), "local_ssd" | "ephemeral_ssd")))
            }
            SimDbKind::PolarDb { db_type } => db_type == "MySQL",
            SimDbKind::MongoReplicate | SimDbKind::MongoSharding => true,
        };
        kind_fits && instance.status == "Running"
    }

    #[test]
    fn exactly_the_demo_instances_are_applicable() {
        let applicable: BTreeSet<(String, String)> =
            demo_db_instances().into_iter().filter(applicable).map(|i| (i.region, i.id)).collect();
        let demo: BTreeSet<(String, String)> = demo_regions()
            .into_iter()
            .flat_map(|(region, instances)| instances.into_iter().map(move |(id, _)| (region.clone(), id)))
            .collect();
        assert_eq!(applicable, demo);
    }

    #[test]
    fn each_region_also_has_instances_discovery_passes_over() {
        let estate = demo_db_instances();
        let ids: BTreeSet<(&str, &str)> = estate.iter().map(|i| (i.region.as_str(), i.id.as_str())).collect();
        assert_eq!(ids.len(), estate.len(), "ids are unique per region");
        for (region, instances) in demo_regions() {
            let in_region = estate.iter().filter(|i| i.region == region).count();
            assert_eq!(in_region, instances.len() + 5);
            assert!(estate.iter().any(|i| i.region == region && i.status == "Creating"));
        }
    }
}
