// A function whose layer brings an external extension (see ../layer/extensions/).
exports.handler = async (event, context) => ({ requestId: context.awsRequestId });
