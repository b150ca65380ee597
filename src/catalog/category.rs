//! App categories: the fixed list of Microsoft Defender for Cloud Apps categories.
//! Ids are the camelCase member names of the Microsoft Graph `appCategory` enumeration, so a record's
//! `category` can be compared with what a Defender tenant reports.

use std::fmt;
use std::str::FromStr;

macro_rules! categories {
    ($($variant:ident => $id:literal, $label:literal;)+) => {
        /// A cloud-app category, as Microsoft Defender for Cloud Apps names it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Category {
            $(
                #[doc = concat!("`", $id, "`: ", $label, ".")]
                $variant,
            )+
        }

        impl Category {
            /// Every category, in the order of the Graph enumeration.
            pub const ALL: &'static [Category] = &[$(Category::$variant),+];

            /// The camelCase id used in catalog files and records (`"cloudStorage"`).
            pub const fn id(self) -> &'static str {
                match self { $(Category::$variant => $id),+ }
            }

            /// A human-readable name for tables and dashboards (`"Cloud storage"`).
            pub const fn label(self) -> &'static str {
                match self { $(Category::$variant => $label),+ }
            }

            /// The category whose id is `id` (exact, case-sensitive), if any.
            pub fn from_id(id: &str) -> Option<Category> {
                match id { $($id => Some(Category::$variant),)+ _ => None }
            }
        }
    };
}

categories! {
    Security => "security", "Security";
    Collaboration => "collaboration", "Collaboration";
    HostingServices => "hostingServices", "Hosting services";
    OnlineMeetings => "onlineMeetings", "Online meetings";
    NewsAndEntertainment => "newsAndEntertainment", "News and entertainment";
    ECommerce => "eCommerce", "E-commerce";
    Education => "education", "Education";
    CloudStorage => "cloudStorage", "Cloud storage";
    Marketing => "marketing", "Marketing";
    OperationsManagement => "operationsManagement", "Operations management";
    Health => "health", "Health";
    Advertising => "advertising", "Advertising";
    Productivity => "productivity", "Productivity";
    AccountingAndFinance => "accountingAndFinance", "Accounting and finance";
    ContentManagement => "contentManagement", "Content management";
    ContentSharing => "contentSharing", "Content sharing";
    BusinessManagement => "businessManagement", "Business management";
    Communications => "communications", "Communications";
    DataAnalytics => "dataAnalytics", "Data analytics";
    BusinessIntelligence => "businessIntelligence", "Business intelligence";
    Webemail => "webemail", "Webmail";
    CodeHosting => "codeHosting", "Code hosting";
    WebAnalytics => "webAnalytics", "Web analytics";
    SocialNetwork => "socialNetwork", "Social network";
    Crm => "crm", "CRM";
    Forums => "forums", "Forums";
    HumanResourceManagement => "humanResourceManagement", "Human resource management";
    TransportationAndTravel => "transportationAndTravel", "Transportation and travel";
    ProductDesign => "productDesign", "Product design";
    Sales => "sales", "Sales";
    CloudComputingPlatform => "cloudComputingPlatform", "Cloud computing platform";
    ProjectManagement => "projectManagement", "Project management";
    PersonalInstantMessaging => "personalInstantMessaging", "Personal instant messaging";
    DevelopmentTools => "developmentTools", "Development tools";
    ItServices => "itServices", "IT services";
    SupplyChainAndLogistics => "supplyChainAndLogistics", "Supply chain and logistics";
    PropertyManagement => "propertyManagement", "Property management";
    CustomerSupport => "customerSupport", "Customer support";
    InternetOfThings => "internetOfThings", "Internet of things";
    VendorManagementSystems => "vendorManagementSystems", "Vendor management systems";
    WebsiteMonitoring => "websiteMonitoring", "Website monitoring";
    GenerativeAi => "generativeAi", "Generative AI";
    AiModelProvider => "aiModelProvider", "AI model provider";
    McpServer => "mcpServer", "MCP server";
    ClientAiApp => "clientAiApp", "Client AI app";
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The error of parsing an unknown category id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCategory(pub String);

impl fmt::Display for UnknownCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown category '{}'", self.0)
    }
}

impl std::error::Error for UnknownCategory {}

impl FromStr for Category {
    type Err = UnknownCategory;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::from_id(s).ok_or_else(|| UnknownCategory(s.to_owned()))
    }
}

impl serde::Serialize for Category {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &c in Category::ALL {
            assert!(seen.insert(c.id()), "duplicate id {}", c.id());
            assert_eq!(Category::from_id(c.id()), Some(c));
            assert_eq!(c.id().parse::<Category>(), Ok(c));
        }
        assert_eq!(Category::ALL.len(), 45);
    }

    #[test]
    fn graph_spelling_is_kept() {
        assert_eq!(Category::from_id("eCommerce"), Some(Category::ECommerce));
        assert_eq!(Category::from_id("webemail"), Some(Category::Webemail));
        assert_eq!(
            Category::from_id("generativeAi"),
            Some(Category::GenerativeAi)
        );
        assert_eq!(Category::from_id("GenerativeAI"), None);
        assert_eq!(Category::from_id("unknown"), None);
        assert_eq!(
            "foo".parse::<Category>().unwrap_err().to_string(),
            "unknown category 'foo'"
        );
    }
}
