//! The one AWS SDK configuration. Region and credentials come from the standard chain (ECS task role in AWS,
//! environment locally); `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_SQS`, ...) points the SDK at moto or
//! LocalStack. Nothing here names an endpoint or a region: that is configuration.

use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::{self, ConfigError, Var};

pub const AWS_REGION: Var = Var::new(
    "AWS_REGION",
    "the AWS region (set in the task definition; locally us-east-1 with moto)",
)
.example("eu-west-1");
/// Read by the SDK (`AWS_ENDPOINT_URL_SQS` etc. per service too): the emulator locally, unset in AWS.
pub const AWS_ENDPOINT_URL: Var = Var::new(
    "AWS_ENDPOINT_URL",
    "endpoint of an AWS emulator (moto, LocalStack); unset in AWS",
)
.example("http://127.0.0.1:4566");
/// Read by the SDK's credentials chain; in ECS the task role provides credentials instead.
pub const AWS_ACCESS_KEY_ID: Var = Var::new(
    "AWS_ACCESS_KEY_ID",
    "static credentials for an emulator; in ECS the task role provides credentials",
)
.secret();
pub const AWS_SECRET_ACCESS_KEY: Var = Var::new(
    "AWS_SECRET_ACCESS_KEY",
    "static credentials for an emulator; in ECS the task role provides credentials",
)
.secret();

/// The variables the SDK reads that matter here: the region is required (checked here, so the error names it),
/// the rest are read by the SDK itself.
pub fn read_env() -> Result<String, ConfigError> {
    let region = config::required(&AWS_REGION)?;
    config::external(&AWS_ENDPOINT_URL);
    config::external(&AWS_ACCESS_KEY_ID);
    config::external(&AWS_SECRET_ACCESS_KEY);
    Ok(region)
}

/// Loads the shared SDK config (`AWS_REGION` must be set).
pub async fn load() -> Result<SdkConfig, ConfigError> {
    read_env()?;
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    if config.region().is_none() {
        return Err(ConfigError::Missing {
            name: AWS_REGION.name.into(),
            hint: AWS_REGION.doc.to_owned(),
        });
    }
    Ok(config)
}
