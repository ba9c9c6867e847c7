throw new TypeError('bad config at load');
