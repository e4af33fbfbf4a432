// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IPrivacyBudget} from "./interfaces/IPrivacyBudget.sol";
import {IStudyRegistry} from "./interfaces/IStudyRegistry.sol";

/**
 * @title PrivacyBudget
 * @notice Renyi-DP budget ledger per (study, hospital) for dp-mode studies. Kept apart from the
 * RoundLedger, which only asks {requireCharged} when an update is submitted.
 */
contract PrivacyBudget is IPrivacyBudget {
    IStudyRegistry private immutable _studies;

    mapping(bytes32 study => Terms) private _terms;
    mapping(bytes32 study => mapping(address hospital => uint256[])) private _spent;
    mapping(bytes32 study => mapping(uint64 round => mapping(address hospital => uint256[])))
        private _charged;

    /// @param studies The study registry (coordinator and member hospitals).
    constructor(IStudyRegistry studies) {
        _studies = studies;
    }

    /// @inheritdoc IPrivacyBudget
    function configure(bytes32 study, Terms calldata terms) external {
        if (!_studies.studyExists(study)) revert UnknownStudy(study);
        if (_studies.getStudy(study).coordinator != msg.sender) revert NotCoordinator(study, msg.sender);
        if (_terms[study].orders.length != 0) revert BudgetAlreadyConfigured(study);
        if (terms.orders.length == 0 || terms.caps.length != terms.orders.length) {
            revert BadBudgetTerms(study, terms.orders.length, terms.caps.length);
        }
        _terms[study] = terms;
        _terms[study].configuredBlock = block.number;
        emit BudgetConfigured(study, terms.epsilon, terms.delta, terms.orders, terms.caps);
    }

    /// @inheritdoc IPrivacyBudget
    function charge(bytes32 study, uint64 round, uint256[] calldata increment) external {
        uint256[] storage caps = _terms[study].caps;
        uint256 n = caps.length;
        if (n == 0) revert NotDpStudy(study);
        if (!_studies.isMember(study, msg.sender)) revert NotStudyMember(study, msg.sender);
        if (_charged[study][round][msg.sender].length != 0) {
            revert AlreadyCharged(study, round, msg.sender);
        }
        if (increment.length != n) revert IncrementLengthMismatch(increment.length, n);
        uint256[] storage spentNow = _spent[study][msg.sender];
        if (spentNow.length == 0) {
            for (uint256 i = 0; i < n; ++i) spentNow.push(0);
        }
        bool affordable = false;
        for (uint256 i = 0; i < n; ++i) {
            uint256 total = spentNow[i] + increment[i];
            spentNow[i] = total;
            if (total <= caps[i]) affordable = true;
        }
        if (!affordable) revert BudgetExhausted(study, round, msg.sender);
        _charged[study][round][msg.sender] = increment;
        emit BudgetCharged(study, round, msg.sender, increment);
    }

    /// @inheritdoc IPrivacyBudget
    function requireCharged(bytes32 study, uint64 round, address hospital) external view {
        if (_terms[study].orders.length != 0 && _charged[study][round][hospital].length == 0) {
            revert BudgetNotCharged(study, round, hospital);
        }
    }

    /// @inheritdoc IPrivacyBudget
    function isDpStudy(bytes32 study) external view returns (bool) {
        return _terms[study].orders.length != 0;
    }

    /// @inheritdoc IPrivacyBudget
    function getTerms(bytes32 study) external view returns (Terms memory) {
        return _terms[study];
    }

    /// @inheritdoc IPrivacyBudget
    function spent(bytes32 study, address hospital) external view returns (uint256[] memory) {
        return _spent[study][hospital];
    }

    /// @inheritdoc IPrivacyBudget
    function charged(bytes32 study, uint64 round, address hospital)
        external
        view
        returns (uint256[] memory)
    {
        return _charged[study][round][hospital];
    }
}
