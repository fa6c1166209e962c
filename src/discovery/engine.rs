//! The engines discovery knows: which product lists them, and the RAM action that needs.

use std::fmt;

/// A database engine whose instances DBS advanced download applies to. The names are the
/// config's and the `engine` label's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Engine {
    RdsMysql,
    RdsPostgresql,
    PolardbMysql,
    Mongodb,
}

/// The API that lists an engine's instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Product {
    Rds,
    Polardb,
    Mongodb,
}

impl Engine {
    pub const ALL: [Engine; 4] =
        [Engine::RdsMysql, Engine::RdsPostgresql, Engine::PolardbMysql, Engine::Mongodb];

    pub fn as_str(self) -> &'static str {
        match self {
            Engine::RdsMysql => "rds_mysql",
            Engine::RdsPostgresql => "rds_postgresql",
            Engine::PolardbMysql => "polardb_mysql",
            Engine::Mongodb => "mongodb",
        }
    }

    /// The config's spelling; ASCII case and `-` for `_` are forgiven.
    pub fn parse(text: &str) -> Option<Engine> {
        let folded = text.trim().to_ascii_lowercase().replace('-', "_");
        Engine::ALL.into_iter().find(|engine| engine.as_str() == folded)
    }

    pub fn product(self) -> Product {
        match self {
            Engine::RdsMysql | Engine::RdsPostgresql => Product::Rds,
            Engine::PolardbMysql => Product::Polardb,
            Engine::Mongodb => Product::Mongodb,
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Product {
    pub const ALL: [Product; 3] = [Product::Rds, Product::Polardb, Product::Mongodb];

    /// The key of `discovery_endpoints` in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Product::Rds => "rds",
            Product::Polardb => "polardb",
            Product::Mongodb => "mongodb",
        }
    }

    /// The RAM action a list call needs.
    pub fn ram_action(self) -> &'static str {
        match self {
            Product::Rds => "rds:DescribeDBInstances",
            Product::Polardb => "polardb:DescribeDBClusters",
            Product::Mongodb => "dds:DescribeDBInstances",
        }
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_odd_spellings_are_forgiven() {
        for engine in Engine::ALL {
            assert_eq!(Engine::parse(engine.as_str()), Some(engine));
        }
        assert_eq!(Engine::parse(" RDS-MySQL "), Some(Engine::RdsMysql));
        assert_eq!(Engine::parse("MongoDB"), Some(Engine::Mongodb));
        assert_eq!(Engine::parse("rds_sqlserver"), None);
    }

    #[test]
    fn each_product_names_its_ram_action() {
        assert_eq!(Engine::RdsPostgresql.product().ram_action(), "rds:DescribeDBInstances");
        assert_eq!(Engine::PolardbMysql.product().ram_action(), "polardb:DescribeDBClusters");
        assert_eq!(Engine::Mongodb.product().ram_action(), "dds:DescribeDBInstances");
    }
}
