//! Enums chosen by name (`--mode fan_in`, `kaiming_normal:mode=fan_out`): one list of names
//! and aliases per enum, parsed the same way by the command line and by scheme specs.

/// An enum whose values have names: the first is canonical, the rest are aliases.
pub trait Named: Copy + Sized + 'static {
    /// What the values are, for messages ("activation", "fan mode").
    const WHAT: &'static str;
    fn all() -> &'static [Self];
    fn names(self) -> &'static [&'static str];

    fn name(self) -> &'static str {
        self.names()[0]
    }

    /// Case-insensitive, `-` and `_` alike.
    fn parse_named(text: &str) -> Result<Self, String> {
        let key = text.trim().to_ascii_lowercase().replace('-', "_");
        Self::all()
            .iter()
            .copied()
            .find(|v| v.names().iter().any(|n| n.replace('-', "_") == key))
            .ok_or_else(|| {
                let known: Vec<&str> = Self::all().iter().map(|v| v.name()).collect();
                format!(
                    "unknown {} '{text}'; known: {}",
                    Self::WHAT,
                    known.join(", ")
                )
            })
    }
}

/// Declares an enum with [`Named`], `FromStr` and `Display` from one list:
/// `Variant = ["name", "alias", ...]`.
macro_rules! named_enum {
    (
        $(#[$m:meta])*
        pub enum $name:ident ($what:literal) {
            $($(#[$vm:meta])* $variant:ident = [$($n:literal),+],)*
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant,)* }

        impl $crate::named::Named for $name {
            const WHAT: &'static str = $what;
            fn all() -> &'static [Self] {
                &[$($name::$variant,)*]
            }
            fn names(self) -> &'static [&'static str] {
                match self { $($name::$variant => &[$($n),+],)* }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                <Self as $crate::named::Named>::parse_named(s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::named::Named::name(*self))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($crate::named::Named::name(*self))
            }
        }
    };
}
pub(crate) use named_enum;

/// The network activation is declared in `abi` (its codes are the kernels'), named here.
impl Named for crate::abi::Activation {
    const WHAT: &'static str = "activation";
    fn all() -> &'static [Self] {
        &crate::abi::Activation::ALL
    }
    fn names(self) -> &'static [&'static str] {
        crate::abi::Activation::names(self)
    }
}

impl serde::Serialize for crate::abi::Activation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl std::str::FromStr for crate::abi::Activation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse_named(s)
    }
}
