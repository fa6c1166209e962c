//! Which host lists a region's instances: the official SDKs' endpoint maps for RDS, PolarDB
//! and MongoDB. Every region not in a map has a host of its own.

use super::engine::Product;

const RDS_CENTRAL: &[&str] = &[
    "cn-qingdao",
    "cn-beijing",
    "cn-hangzhou",
    "cn-shanghai",
    "cn-shenzhen",
    "cn-heyuan",
    "cn-hongkong",
    "ap-southeast-1",
    "us-west-1",
    "us-east-1",
    "cn-shanghai-finance-1",
    "cn-shenzhen-finance-1",
    "cn-north-2-gov-1",
    "cn-beijing-finance-1",
];

const POLARDB_CENTRAL: &[&str] =
    &["cn-qingdao", "cn-beijing", "cn-wulanchabu", "cn-hangzhou", "cn-shanghai", "cn-heyuan"];

const MONGODB_CENTRAL: &[&str] = &[
    "cn-qingdao",
    "cn-beijing",
    "cn-wulanchabu",
    "cn-hangzhou",
    "cn-shanghai",
    "cn-shenzhen",
    "cn-heyuan",
    "cn-guangzhou",
];

/// The default `https://` endpoint of `product` for a region; config may override it.
pub fn default_endpoint(product: Product, region_id: &str) -> String {
    // MongoDB's host is `mongodb.`: the SDK's own fallback (`dds.<region>`) is not a host.
    let (host, central) = match product {
        Product::Rds if region_id == "cn-hangzhou-finance" => {
            return "https://rds-vpc.cn-hangzhou-finance.aliyuncs.com".to_string()
        }
        Product::Rds => ("rds", RDS_CENTRAL),
        Product::Polardb => ("polardb", POLARDB_CENTRAL),
        Product::Mongodb => ("mongodb", MONGODB_CENTRAL),
    };
    if central.contains(&region_id) {
        format!("https://{host}.aliyuncs.com")
    } else {
        format!("https://{host}.{region_id}.aliyuncs.com")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn central_regions_share_the_product_host() {
        assert_eq!(default_endpoint(Product::Rds, "cn-hangzhou"), "https://rds.aliyuncs.com");
        assert_eq!(default_endpoint(Product::Polardb, "cn-wulanchabu"), "https://polardb.aliyuncs.com");
        assert_eq!(default_endpoint(Product::Mongodb, "cn-guangzhou"), "https://mongodb.aliyuncs.com");
        assert_eq!(
            default_endpoint(Product::Rds, "cn-hangzhou-finance"),
            "https://rds-vpc.cn-hangzhou-finance.aliyuncs.com"
        );
    }

    #[test]
    fn other_regions_have_their_own_host_and_mongodb_is_not_dds() {
        assert_eq!(default_endpoint(Product::Rds, "eu-central-1"), "https://rds.eu-central-1.aliyuncs.com");
        assert_eq!(
            default_endpoint(Product::Polardb, "cn-shenzhen"),
            "https://polardb.cn-shenzhen.aliyuncs.com"
        );
        assert_eq!(
            default_endpoint(Product::Mongodb, "ap-southeast-1"),
            "https://mongodb.ap-southeast-1.aliyuncs.com"
        );
    }
}
