//! Wire formats: checked views and values for every FMP and FSP packet.
