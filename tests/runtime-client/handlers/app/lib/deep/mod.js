exports.handler = async () => 'dir/file form';
