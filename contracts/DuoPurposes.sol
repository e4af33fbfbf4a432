// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/**
 * @title DuoPurposes
 * @notice GA4GH Data Use Ontology (DUO) purposes as a `uint64` bitmask, and the coverage rule
 * a consent's purposes must meet for a study's declared purpose. The layout and rules are the
 * ones of `consent/purposes.py` (a test holds the two against each other):
 * bit 0 GRU, bit 1 HMB, bit 2 NMDS (consent modifier), bit 3 METHODS (study flag),
 * bits 8.. DS-<disease> in the order of `consent.purposes.DISEASES`.
 * GRU covers every purpose, HMB covers HMB and every DS-<disease>, DS-x covers DS-x; a consent
 * with NMDS does not cover a METHODS study unless that study is disease specific.
 * Written by hand: OpenZeppelin has no data-use vocabulary, and the rule is a few bit tests.
 */
library DuoPurposes {
    uint64 internal constant GRU = 1 << 0;
    uint64 internal constant HMB = 1 << 1;
    uint64 internal constant NMDS = 1 << 2;
    uint64 internal constant METHODS = 1 << 3;
    /// @dev DS-<disease> bits: 12 diseases from bit 8 (append only, with the Python list).
    uint64 internal constant DS = ((uint64(1) << 12) - 1) << 8;
    uint64 internal constant CATEGORIES = GRU | HMB | DS;

    /// @notice Whether `scope` is a valid consent scope: at least one purpose, no study flag.
    function isValidScope(uint64 scope) internal pure returns (bool) {
        return scope & CATEGORIES != 0 && scope & ~(CATEGORIES | NMDS) == 0;
    }

    /// @notice Whether `purpose` is a valid study purpose: exactly one purpose bit, maybe METHODS.
    function isValidStudyPurpose(uint64 purpose) internal pure returns (bool) {
        uint64 category = purpose & CATEGORIES;
        return category != 0 && category & (category - 1) == 0
            && purpose & ~(CATEGORIES | METHODS) == 0;
    }

    /// @notice Whether a consent with `scope` covers a study with `purpose` (0: none declared).
    function covers(uint64 scope, uint64 purpose) internal pure returns (bool) {
        if (purpose == 0) return true;
        uint64 category = purpose & CATEGORIES;
        if (purpose & METHODS != 0 && scope & NMDS != 0 && category & DS == 0) return false;
        uint64 coveredBy = GRU;
        if (category != GRU) coveredBy |= HMB;
        if (category & DS != 0) coveredBy |= category;
        return scope & coveredBy != 0;
    }
}
