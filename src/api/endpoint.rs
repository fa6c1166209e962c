//! Which host serves a region: the official SDK's endpoint map for DBS.

/// Regions served by the central `cn-hangzhou` endpoint rather than one of their own.
const CENTRAL_REGIONS: &[&str] = &[
    "cn-qingdao",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-hangzhou",
    "cn-shanghai",
    "cn-shenzhen",
    "cn-hongkong",
    "us-west-1",
    "us-east-1",
    "cn-hangzhou-finance",
    "cn-shanghai-finance-1",
    "cn-shenzhen-finance-1",
];

/// The default `https://` endpoint for a region; config may override it per region.
pub fn default_endpoint(region_id: &str) -> String {
    if CENTRAL_REGIONS.contains(&region_id) {
        "https://dbs-api.cn-hangzhou.aliyuncs.com".to_string()
    } else {
        format!("https://dbs-api.{region_id}.aliyuncs.com")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn central_regions_share_the_hangzhou_endpoint() {
        assert_eq!(default_endpoint("cn-beijing"), "https://dbs-api.cn-hangzhou.aliyuncs.com");
        assert_eq!(default_endpoint("us-east-1"), "https://dbs-api.cn-hangzhou.aliyuncs.com");
        assert_eq!(default_endpoint("cn-shenzhen-finance-1"), "https://dbs-api.cn-hangzhou.aliyuncs.com");
    }

    #[test]
    fn other_regions_have_their_own_endpoint() {
        assert_eq!(default_endpoint("ap-southeast-1"), "https://dbs-api.ap-southeast-1.aliyuncs.com");
        assert_eq!(default_endpoint("eu-central-1"), "https://dbs-api.eu-central-1.aliyuncs.com");
    }
}
