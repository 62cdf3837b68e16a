//! Linux socket API constants as data.
